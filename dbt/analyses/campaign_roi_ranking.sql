-- Question: Which campaigns paid for themselves, and which did not?
-- Ranked by ROI (last-touch attributed revenue vs cost); campaigns without a known cost come last.

select
    rank() over (order by roi desc nulls last) as roi_rank,
    campaign_id,
    campaign_name,
    target_segment,
    sent,
    delivered,
    unique_opens,
    unique_clicks,
    round(open_rate, 3) as open_rate,
    round(click_rate, 3) as click_rate,
    conversions,
    attributed_revenue_usd,
    cost_usd,
    round(roi, 2) as roi

from marts.campaign_performance
order by roi_rank, campaign_id
